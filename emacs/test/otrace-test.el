;;; otrace-test.el --- ERT tests of otrace.el against the real demos -*- lexical-binding: t -*-

;;; Commentary:

;; Each test starts a real demo process (demos/torna_trace.py or
;; demos/chat_websock.py) with --port 0 --exit-on-stdin-eof and its own
;; XDG_RUNTIME_DIR, so the demo dies with its stdin pipe (and with
;; Emacs).  Batch Emacs runs filters and timers only while waiting, so
;; every wait is `accept-process-output' against a deadline.
;; Tests are skipped when the demo cannot start (no Python found).
;;
;;   emacs --batch -Q -L emacs -l emacs/test/otrace-test.el -f ert-run-tests-batch-and-exit

;;; Code:

(require 'ert)
(require 'cl-lib)
(require 'otrace)

(defconst otrace-test--root
  (file-name-directory (directory-file-name
                        (file-name-directory (directory-file-name
                                              (file-name-directory (or load-file-name buffer-file-name))))))
  "The repository root.")

(defun otrace-test--python ()
  "The Python running the demos: $OTRACE_TEST_PYTHON, the venv's, else python3."
  (or (getenv "OTRACE_TEST_PYTHON")
      (let ((venv (expand-file-name ".venv/bin/python" otrace-test--root)))
        (and (file-executable-p venv) venv))
      (executable-find "python3")))

(defun otrace-test--wait (predicate what &optional timeout)
  "Wait until PREDICATE returns non-nil (returned); fail naming WHAT after TIMEOUT s."
  (let ((deadline (+ (float-time) (or timeout 15)))
        value)
    (while (and (not (setq value (funcall predicate))) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (or value (ert-fail (format "timed out waiting for %s" what)))))

(cl-defstruct (otrace-test--app (:constructor otrace-test--app-make))
  proc dir http)

(defvar otrace-test--workers nil
  "When non-nil, the number of worker processes of the next demo started (a fleet).
It is ready once each wrote its discovery file.")

(defvar otrace-test--runtime-dir nil
  "When non-nil, the XDG_RUNTIME_DIR of the next demo started (else a new one).")

(defun otrace-test--start (script &rest args)
  "Start demo SCRIPT with ARGS and its own discovery directory; an `otrace-test--app'.
The directory is `otrace-test--runtime-dir' when set (a restart)."
  (let* ((python (or (otrace-test--python) (ert-skip "no python to run the demos")))
         (dir (or otrace-test--runtime-dir (make-temp-file "otrace-ert" t)))
         (process-environment (append (list (concat "XDG_RUNTIME_DIR=" dir)
                                            (concat "PYTHONPATH=" otrace-test--root))
                                      process-environment))
         (buf (generate-new-buffer " *otrace-test demo*"))
         proc)
    (setq proc (make-process :name "otrace-test-demo" :buffer buf :connection-type 'pipe :noquery t
                             :command (append (list python (expand-file-name script otrace-test--root)
                                                    "--port" "0" "--no-console" "--exit-on-stdin-eof")
                                              args)))
    (condition-case err
        (otrace-test--ready proc buf dir script)
      (t (delete-process proc)
         (kill-buffer buf)
         (delete-directory dir t)
         (signal (car err) (cdr err))))))

(defun otrace-test--ready (proc buf dir script)
  "Wait until demo SCRIPT running as PROC (output in BUF) serves; an `otrace-test--app'.
DIR is its XDG_RUNTIME_DIR.  With `otrace-test--workers', wait for that many
discovery files of PROC's workers instead of PROC's."
  (let* ((http (otrace-test--wait
                  (lambda () (with-current-buffer buf
                               (unless (process-live-p proc)
                                 (ert-fail (format "%s exited: %s" script (buffer-string))))
                               (goto-char (point-min))
                               (and (re-search-forward "Listening on http://[0-9.]+:\\([0-9]+\\)" nil t)
                                    (string-to-number (match-string 1)))))
                  (format "%s to listen" script)))
           (discovery (expand-file-name (format "otrace/otrace-%d.json" (process-id proc)) dir)))
    (if otrace-test--workers
        (let ((otrace-discovery-directory (expand-file-name "otrace" dir)))
          (otrace-test--wait (lambda () (= (cl-count (process-id proc) (otrace-processes)
                                                     :key (lambda (p) (plist-get p :ppid)))
                                           otrace-test--workers))
                             (format "%d workers' discovery files" otrace-test--workers) 30))
      (otrace-test--wait (lambda () (file-exists-p discovery)) "the discovery file"))
    (otrace-test--app-make :proc proc :dir dir :http http)))

(defun otrace-test--stop (app)
  "Disconnect, end APP through its stdin and remove its directory."
  (otrace-disconnect)
  (let ((proc (otrace-test--app-proc app)))
    (when (process-live-p proc)
      (ignore-errors (process-send-eof proc))
      (let ((deadline (+ (float-time) 10)))
        (while (and (process-live-p proc) (< (float-time) deadline))
          (accept-process-output proc 0.05)))
      (when (process-live-p proc) (delete-process proc)))
    (kill-buffer (process-buffer proc)))
  (delete-directory (otrace-test--app-dir app) t))

(defmacro otrace-test--with-app (spec &rest body)
  "Run BODY with (VAR SCRIPT ARGS...) of SPEC started, discovery directory set.
Everything is stopped afterwards."
  (declare (indent 1))
  `(let* ((,(car spec) (otrace-test--start ,@(cdr spec)))
          (otrace-discovery-directory (expand-file-name "otrace" (otrace-test--app-dir ,(car spec)))))
     (unwind-protect (progn ,@body)
       (otrace-test--cleanup-buffers)
       (otrace-test--stop ,(car spec)))))

(defun otrace-test--connect (app)
  "Connect to APP through its discovery file."
  (let ((info (cl-find (process-id (otrace-test--app-proc app)) (otrace-processes)
                       :key (lambda (p) (plist-get p :pid)))))
    (otrace-connect-to "127.0.0.1" (plist-get info :lsp_port) (plist-get info :token))))

(defun otrace-test--http-get (app path)
  "Start GET PATH on APP's HTTP port; the buffer receiving the response."
  (let* ((buf (generate-new-buffer " *otrace-test http*"))
         (proc (make-network-process :name "otrace-test-http" :buffer buf :host "127.0.0.1"
                                     :service (otrace-test--app-http app) :noquery t)))
    (process-send-string proc (format "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" path))
    buf))

(defun otrace-test--buffer-has (buf regexp)
  "Non-nil when BUF contains a match of REGEXP."
  (with-current-buffer buf
    (save-excursion (goto-char (point-min)) (re-search-forward regexp nil t))))

(defun otrace-test--demo-line (regexp)
  "The 1-based line of demos/torna_trace.py matching REGEXP."
  (with-temp-buffer
    (insert-file-contents (expand-file-name "demos/torna_trace.py" otrace-test--root))
    (re-search-forward regexp)
    (line-number-at-pos)))

(defun otrace-test--demo-buffer ()
  "A buffer visiting demos/torna_trace.py."
  (find-file-noselect (expand-file-name "demos/torna_trace.py" otrace-test--root)))

(defun otrace-test--cleanup-buffers ()
  "Kill the buffers the tests opened."
  (dolist (name '("*otrace console*" "*otrace holds*" "*otrace web*"))
    (when (get-buffer name) (kill-buffer name)))
  (let ((buf (get-file-buffer (expand-file-name "demos/torna_trace.py" otrace-test--root))))
    (when buf
      (with-current-buffer buf (set-buffer-modified-p nil))
      (kill-buffer buf))))

;;;; Connection

(defun otrace-test--wait-views (n what)
  "Wait until N requests are held and the views show them (WHAT says which)."
  (otrace-test--wait (lambda () (and (= (length otrace--holds) n) (null otrace--holds-redraw-timer)))
                     what))

(ert-deftest otrace-test-request-summary-text-is-the-servers ()
  "A hold's request summary reads as the server's: no \" from nil\" without an address."
  (should (equal (otrace--summary-text '(:method "GET" :uri "/?n=7" :remote_ip "::1")) "GET /?n=7 from ::1"))
  (should (equal (otrace--summary-text '(:method "GET" :uri "/holds")) "GET /holds"))
  (should (equal (otrace--summary-text nil) ""))
  (should (equal (otrace--summary-text (list :method "GET" :uri (concat "/" (string 27) "[2J\n")))
                 "GET /\\x1b[2J\\n"))
  (should (equal (otrace--hold-request '(:summary (:uri "/") :webClient "anna")) "/ [browser anna]")))

(ert-deftest otrace-test-a-burst-of-hold-notifications-redraws-once ()
  "1,000 holdStarted, then holdResumed and holdsResumed notifications: one redraw per burst."
  (let ((otrace--holds nil)
        (redraws 0)
        (otrace-holds-changed-hook nil))
    (add-hook 'otrace-holds-changed-hook (lambda () (setq redraws (1+ redraws))))
    (dotimes (i 1000)
      (otrace--on-notification nil 'otrace/holdStarted (list :id (format "h%d" i))))
    (should (= (length otrace--holds) 1000))      ; the list is up to date at once
    (should (= redraws 0))
    (otrace-test--wait (lambda () (= redraws 1)) "one redraw")
    (dotimes (i 10)
      (otrace--on-notification nil 'otrace/holdResumed (list :id (format "h%d" i) :outcome nil)))
    (should (= (length otrace--holds) 990))
    ;; the rest in one otrace/holdsResumed (a `resume all'), its holds a JSON array (a vector)
    (otrace--on-notification nil 'otrace/holdsResumed
                             (list :holds (vconcat (cl-loop for i from 10 below 1000
                                                            collect (list :id (format "h%d" i) :outcome nil)))))
    (should (null otrace--holds))
    (otrace-test--wait (lambda () (= redraws 2)) "a second redraw")
    (sleep-for 0.2)
    (should (= redraws 2))))

(ert-deftest otrace-test-held-list-loads-in-pages-and-keeps-the-notifications-of-the-load ()
  "Pages load the list; what notifications told during the load stays told.
A hold resumed (or gone) before the page showing it was answered stays
resumed (gone); one started meanwhile is listed once, in number order."
  (let ((otrace--holds nil)
        (otrace-holds-changed-hook nil)
        (pages (list (list :holds (vector '(:id "h1" :number 1) '(:id "h2" :number 2)) :total 4 :next 2)
                     (list :holds (vector '(:id "h3" :number 3) (list :id "h4" :number 4 :clientGone :json-false)
                                          '(:id "h5" :number 5))
                           :total 4 :next nil)))
        asked)
    (cl-letf (((symbol-function 'otrace--async-request)
               (lambda (method params then &rest _)
                 (should (eq method 'otrace/holds))
                 (push params asked)
                 (when (= (length asked) 1)        ; told while the first page is on its way
                   (otrace--on-notification nil 'otrace/holdStarted '(:id "h5" :number 5 :label "told"))
                   (otrace--on-notification nil 'otrace/holdResumed '(:id "h3" :outcome nil))
                   (otrace--on-notification nil 'otrace/holdClientGone '(:id "h4")))
                 (funcall then (pop pages)))))
      (otrace--load-holds))
    (should (equal (reverse asked) (list (list :limit otrace--holds-page) (list :limit otrace--holds-page :after 2))))
    (should (equal (mapcar (lambda (h) (plist-get h :id)) otrace--holds) '("h1" "h2" "h4" "h5")))
    (should (eq (plist-get (otrace--hold "h4") :clientGone) t))
    (should (equal (plist-get (otrace--hold "h5") :label) "told"))   ; as told, not the page's
    (should-not otrace--holds-loading)
    (otrace--on-notification nil 'otrace/holdResumed '(:id "h9" :outcome nil))   ; unknown: nothing
    (otrace--on-notification nil 'otrace/holdStarted '(:id "h6" :number 6))
    (should (equal (mapcar (lambda (h) (plist-get h :id)) otrace--holds) '("h1" "h2" "h4" "h5" "h6")))))

(ert-deftest otrace-test-connect-and-reconnect-load-waiting-holds-in-pages ()
  "Holds waiting before Emacs connects are loaded page by page (pages of 2 here), again at reconnect."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (let ((responses (cl-loop for i below 5 collect (otrace-test--http-get app (format "/?number=77&n=%d" i))))
          (otrace--holds-page 2)
          (asked nil))
      (otrace-test--connect app)
      (otrace-test--wait (lambda () (= (length otrace--holds) 5)) "the five holds")
      (otrace-disconnect)
      (sleep-for 0.3)                              ; all five are held now, before the connect below
      (cl-letf* ((request (symbol-function 'otrace--async-request))
                 ((symbol-function 'otrace--async-request)
                  (lambda (method params &rest more)
                    (when (eq method 'otrace/holds) (push params asked))
                    (apply request method params more))))
        (otrace-reconnect))
      (let ((numbers (mapcar (lambda (h) (plist-get h :number)) otrace--holds)))
        (should (= (length numbers) 5))
        (should (equal numbers (sort (copy-sequence numbers) #'<)))
        (should (equal (reverse asked) `((:limit 2) (:limit 2 :after ,(nth 1 numbers))
                                         (:limit 2 :after ,(nth 3 numbers))))))
      (otrace-resume 'all)
      (dolist (response responses)
        (otrace-test--wait (lambda () (otrace-test--buffer-has response "The reciprocal of 77\\.0 is"))
                           "the resumed responses")
        (kill-buffer response)))))

(ert-deftest otrace-test-connect-through-discovery-file ()
  "`otrace-connect' offers the discovery files (pid, command line, cwd) and connects."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (let* ((pid (process-id (otrace-test--app-proc app)))
           offered)
      (cl-letf (((symbol-function 'completing-read)
                 (lambda (_prompt collection &rest _)
                   (setq offered (mapcar #'car collection))
                   (cl-find-if (lambda (c) (string-prefix-p (format "%d " pid) c)) offered))))
        (call-interactively #'otrace-connect))
      (should (cl-some (lambda (c) (and (string-prefix-p (format "%d " pid) c)
                                        (string-match-p "torna_trace\\.py" c)
                                        (string-match-p (regexp-quote (directory-file-name otrace-test--root)) c)))
                       offered))
      (should (otrace-connected-p))
      (should (equal (plist-get (otrace--info otrace--connection) :pid) pid))
      (should otrace-mode)
      (should (equal (otrace--lighter) " otrace"))
      (let ((console (otrace-console)))
        (otrace-disconnect)
        (should-not (otrace-connected-p))
        (should-not otrace-mode)
        (otrace-reconnect)
        (should (otrace-connected-p))
        (should (eq (otrace-console) console))))))

;; An app restarted (same command line, same directory) gets a new pid, port and token:
;; `otrace-reconnect' finds it through the discovery files.
(ert-deftest otrace-test-reconnect-follows-a-restarted-app ()
  "After the app ended and started again, `otrace-reconnect' connects to the new process."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (let* ((old-pid (process-id (otrace-test--app-proc app)))
           (otrace-test--runtime-dir (otrace-test--app-dir app))
           again)
      (otrace-disconnect)
      (process-send-eof (otrace-test--app-proc app))      ; the app ends...
      (otrace-test--wait (lambda () (not (process-live-p (otrace-test--app-proc app)))) "the app to end")
      (should-error (otrace-reconnect) :type 'user-error)  ; ...and nothing runs it again yet
      (setq again (otrace-test--start "demos/torna_trace.py"))  ; restarted
      (unwind-protect
          (progn
            (otrace-reconnect)
            (should (otrace-connected-p))
            (should (equal (plist-get (otrace--info otrace--connection) :pid)
                           (process-id (otrace-test--app-proc again))))
            (should-not (equal old-pid (process-id (otrace-test--app-proc again)))))
        (otrace-disconnect)
        (let ((proc (otrace-test--app-proc again)))
          (ignore-errors (process-send-eof proc))
          (otrace-test--wait (lambda () (not (process-live-p proc))) "the restarted app to end")
          (kill-buffer (process-buffer proc)))))))

;; Tornado's autoreload re-executes the app in place under otrace: same pid, command line
;; and directory, a new discovery file (port, token).  `otrace-reconnect' follows it there.
(ert-deftest otrace-test-reconnect-follows-an-app-re-executed-in-place ()
  "A live pid whose discovery file has a new token is a restarted app."
  (let* ((dir (make-temp-file "otrace-ert" t))
         (otrace-discovery-directory dir)
         (record (list :pid (emacs-pid) :argv ["otrace" "app.py"] :cwd "/srv" :host "127.0.0.1"
                       :lsp_port 4712 :token "new"))
         (otrace--last-address '("127.0.0.1" 4711 "old"))
         (otrace--last-process (append (list :token "old" :lsp_port 4711)
                                       (cl-loop for (k v) on record by #'cddr
                                                unless (memq k '(:token :lsp_port)) append (list k v))))
         connected)
    (unwind-protect
        (progn
          (with-temp-file (expand-file-name (format "otrace-%d.json" (emacs-pid)) dir)
            (insert (json-serialize record)))
          (cl-letf (((symbol-function 'otrace-connect-to)
                     (lambda (&rest args) (setq connected args))))
            (otrace-reconnect))
          (should (equal connected '("127.0.0.1" 4712 "new"))))
      (delete-directory dir t))))

(ert-deftest otrace-test-wrong-token-gives-one-clear-message ()
  "A wrong token is refused with one `user-error' line, and nothing is left behind."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (let* ((info (car (otrace-processes)))
           (before (length (process-list)))
           (err (should-error (otrace-connect-to "127.0.0.1" (plist-get info :lsp_port) "wrong-token")
                              :type 'user-error)))
      (should (string-match-p "\\`otrace: 127\\.0\\.0\\.1:[0-9]+ refused the connection: .*token"
                              (error-message-string err)))
      (should-not (string-match-p "\n" (error-message-string err)))
      (should-not (otrace-connected-p))
      (accept-process-output nil 0.3)
      (should (= (length (process-list)) before))
      (with-current-buffer (messages-buffer)
        (should-not (string-match-p "error in process\\|Debugger entered\\|Server died"
                                    (buffer-string)))))))

(ert-deftest otrace-test-server-exit-is-noticed ()
  "When the process ends, the connection is forgotten: no mode line, no holds."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (should otrace-mode)
    (process-send-eof (otrace-test--app-proc app))
    (otrace-test--wait (lambda () (not (otrace-connected-p))) "the connection to close")
    (should-not otrace-mode)
    (should-error (otrace-console) :type 'user-error)))

;;;; Holds

(ert-deftest otrace-test-held-request-listed-marked-and-resumed ()
  "number=77 fills the holds buffer and marks the held line; `r' resumes it and the response arrives."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (let* ((source (otrace-test--demo-buffer))
           (held-line (otrace-test--demo-line "await traceassert(number != \"77\""))
           (holds (otrace-holds))
           (response (otrace-test--http-get app "/?number=77")))
      (otrace-test--wait (lambda () (with-current-buffer holds tabulated-list-entries)) "the hold in the view")
      (with-current-buffer holds
        (should (= (length tabulated-list-entries) 1))
        (goto-char (point-min))
        (should (re-search-forward   ; the request first: the useful part is never cut off
                 "GET /\\?number=77 from 127\\.0\\.0\\.1 +hold_check +GetHandler\\.get +[0-9]+s" nil t)))
      (should (equal (otrace--lighter) " otrace[1 held]"))
      (with-current-buffer source
        (should otrace-source-mode)
        (let ((ovs (cl-remove-if-not (lambda (ov) (overlay-get ov 'otrace-hold))
                                     (overlays-in (point-min) (point-max)))))
          (should (= (length ovs) 1))
          (should (= (line-number-at-pos (overlay-start (car ovs))) held-line))
          (should (equal (get-text-property 0 'display (overlay-get (car ovs) 'before-string))
                         (if (display-graphic-p) '(left-fringe right-triangle error)
                           `((margin left-margin) ,(propertize ">" 'face 'error)))))
          (should (eq (lookup-key otrace-source-mode-map (kbd "C-c ~ r")) #'otrace-resume-at-point))
          (should (eq (lookup-key otrace-source-mode-map [left-fringe mouse-1]) #'otrace-resume-at-mouse))))
      (should-not (otrace-test--buffer-has response "reciprocal"))
      (with-current-buffer holds
        (goto-char (point-min))
        (forward-line (if tabulated-list-use-header-line 0 1))
        (call-interactively (key-binding "r")))
      (otrace-test--wait (lambda () (otrace-test--buffer-has response "The reciprocal of 77\\.0 is"))
                         "the HTTP response")
      (otrace-test--wait (lambda () (null (with-current-buffer holds tabulated-list-entries)))
                         "the hold to leave the view")
      (should (null otrace--holds))
      (with-current-buffer source
        (should-not (cl-some (lambda (ov) (overlay-get ov 'otrace-hold))
                             (overlays-in (point-min) (point-max)))))
      (kill-buffer response))))

(ert-deftest otrace-test-resume-at-point-and-with-value ()
  "`C-c ~ r' on the held line resumes it; `v' gives the value `traceassert' returns."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (let ((source (otrace-test--demo-buffer))
          (first (otrace-test--http-get app "/?number=77")))
      (otrace-test--wait-views 1 "the first hold")
      (with-current-buffer source
        (goto-char (point-min))
        (forward-line (1- (otrace-test--demo-line "await traceassert(number != \"77\"")))
        (call-interactively (key-binding (kbd "C-c ~ r"))))
      (otrace-test--wait (lambda () (otrace-test--buffer-has first "The reciprocal of 77\\.0 is")) "response 1")
      (let ((second (otrace-test--http-get app "/?number=77")))
        (otrace-test--wait-views 1 "the second hold")
        (with-current-buffer (otrace-holds)
          (goto-char (point-min))
          (cl-letf (((symbol-function 'read-string) (lambda (&rest _) "4")))
            (call-interactively (key-binding "v"))))
        (otrace-test--wait (lambda () (otrace-test--buffer-has second "The reciprocal of 4\\.0 is 0\\.25"))
                           "response 2")
        (kill-buffer second))
      (kill-buffer first))))

(ert-deftest otrace-test-holds-keys-visit-context-fail-resume-all ()
  "In the holds buffer `RET' visits the held line, `c' opens the context in the
console, `x' fails the request and `R' resumes all."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (let ((failed (otrace-test--http-get app "/?number=77"))
          (holds (otrace-holds)))
      (otrace-test--wait-views 1 "the hold")
      (with-current-buffer holds
        (goto-char (point-min))
        (call-interactively (key-binding (kbd "RET"))))
      (with-current-buffer (window-buffer (selected-window))
        (should (equal buffer-file-name (expand-file-name "demos/torna_trace.py" otrace-test--root)))
        (should (= (line-number-at-pos (window-point))
                   (otrace-test--demo-line "await traceassert(number != \"77\""))))
      (with-current-buffer holds
        (goto-char (point-min))
        (call-interactively (key-binding "c")))
      (let ((console (get-buffer "*otrace console*")))
        (otrace-test--wait (lambda () (otrace-test--buffer-has console "^GetHandler[^>\n]*> \\'")) (format "the context prompt in %S" (with-current-buffer console (buffer-string))))
        (otrace-console-send-line "number")
        (otrace-test--wait (lambda () (otrace-test--buffer-has console "^'77'\n")) "the held local variable"))
      (with-current-buffer holds
        (goto-char (point-min))
        (cl-letf (((symbol-function 'read-number) (lambda (&rest _) 503)))
          (call-interactively (key-binding "x"))))
      (otrace-test--wait (lambda () (otrace-test--buffer-has failed "\\`HTTP/1\\.[01] 503 Failed from Emacs"))
                         "the failed response")
      (kill-buffer failed)
      (let ((a (otrace-test--http-get app "/?number=77"))
            (b (otrace-test--http-get app "/?number=77")))
        (otrace-test--wait (lambda () (= (length (with-current-buffer holds tabulated-list-entries)) 2))
                           "two holds in the view")
        (with-current-buffer holds
          (should (= (length otrace--holds) 2))
          (switch-to-buffer holds)                ; keys go to the selected window's buffer
          (execute-kbd-macro (kbd "R n"))         ; asked first: "n" resumes nothing
          (should (= (length otrace--holds) 2))
          (execute-kbd-macro (kbd "R y")))
        (dolist (response (list a b))
          (otrace-test--wait (lambda () (otrace-test--buffer-has response "The reciprocal of 77\\.0 is"))
                             "the resumed responses")
          (kill-buffer response))))))

;;;; Console

(ert-deftest otrace-test-holds-list-says-client-gone ()
  "A held request whose client disconnected says so in the list."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (let ((response (otrace-test--http-get app "/?number=77"))
          (holds (otrace-holds)))
      (otrace-test--wait-views 1 "the hold")
      (delete-process (get-buffer-process response))         ; the browser went away
      (otrace-test--wait (lambda () (otrace-test--buffer-has holds "GET /\\?number=77 from [0-9.]+ (client gone)"))
                         "the client gone mark")
      (otrace-resume 'all)
      (kill-buffer response))))

(ert-deftest otrace-test-live-hold-listed-marked-and-removed-by-keys ()
  "A live hold is listed with its line, marked on it, offered for removal by a
code action, and removed with `C-c ~ u RET' on its line, in safe mode."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (let* ((source (otrace-test--demo-buffer))
           (line (otrace-test--demo-line "Request_stats\\[\"count\"\\] \\+= 1")))
      (switch-to-buffer source)
      (goto-char (point-min))
      (forward-line (1- line))
      (otrace-code-action "Hold here live")
      (otrace-test--wait (lambda () (otrace--live-holds)) "the live hold in the list of patches")
      (let* ((patch (car (otrace--live-holds)))
             (at (plist-get (plist-get patch :liveHold) :line)))
        (should (equal (plist-get patch :name) "GetHandler.get"))
        ;; marked on its line, with a mark of its own
        (otrace-test--wait (lambda () (cl-find-if (lambda (ov) (overlay-get ov 'otrace-live-hold))
                                                  (overlays-in (point-min) (point-max))))
                           "the live hold's mark")
        (let ((ov (cl-find-if (lambda (ov) (overlay-get ov 'otrace-live-hold)) (overlays-in (point-min) (point-max)))))
          (should (= (line-number-at-pos (overlay-start ov)) at))
          (should (string-match-p "live hold" (overlay-get ov 'help-echo))))
        ;; listed in the holds buffer, with its line
        (with-current-buffer (otrace-holds)
          (should (cl-find-if (lambda (e) (string-match-p (format "live hold at line %d of torna_trace.py" at)
                                                          (aref (cadr e) 0)))
                              tabulated-list-entries)))
        (switch-to-buffer source)
        ;; the code actions on the line say what is true, and offer the removal
        (goto-char (point-min))
        (forward-line (1- at))
        (let ((titles (mapcar (lambda (a) (cons (plist-get a :title) (plist-get (plist-get a :disabled) :reason)))
                              (otrace--code-actions))))
          (should (string-match-p "has a live hold already" (cdr (assoc "Hold here live" titles))))
          (should (assoc (format "Remove live hold (GetHandler.get, line %d)" at) titles)))
        (should (otrace-safe-mode-p))
        (execute-kbd-macro (kbd "C-c ~ u RET"))      ; the default: the live hold of this line
        (should-not (otrace--live-holds))
        (should-not (cl-find-if (lambda (ov) (overlay-get ov 'otrace-live-hold)) (overlays-in (point-min) (point-max))))
        (let ((response (otrace-test--http-get app "/?number=5")))
          (otrace-test--wait (lambda () (otrace-test--buffer-has response "The reciprocal of 5")) "an unheld answer")
          (kill-buffer response))))))

(ert-deftest otrace-test-safe-mode-switch-asks-and-shows ()
  "`otrace-set-safe-mode' asks before allowing code execution; the mode line
shows it, also when another client changes it."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (should (otrace-safe-mode-p))
    (should (equal (otrace--lighter) " otrace"))
    (execute-kbd-macro (kbd "M-x otrace-set-safe-mode RET n"))   ; asked: "n" changes nothing
    (should (otrace-safe-mode-p))
    (execute-kbd-macro (kbd "M-x otrace-set-safe-mode RET y"))
    (should-not (otrace-safe-mode-p))
    (should (string-match-p "!unsafe" (otrace--lighter)))
    (should (string-match-p "\\`safe_mode = False" ; the process itself says so
                            (plist-get (otrace--request 'otrace/command '(:line "set safe_mode")) :output)))
    ;; another client (here the console's own session) turns it back on: the mode line follows
    (otrace--request 'otrace/command '(:line "set safe_mode True"))
    (otrace-test--wait (lambda () (otrace-safe-mode-p)) "the settingChanged notification")
    (should (equal (otrace--lighter) " otrace"))))

(defun otrace-test--flymake-note (buffer regexp)
  "The first flymake diagnostic of BUFFER whose text matches REGEXP, else nil."
  (with-current-buffer buffer
    (cl-find-if (lambda (d) (string-match-p regexp (flymake-diagnostic-text d)))
                (flymake-diagnostics))))

(defun otrace-test--stopped-p (pid)
  "Non-nil when every thread of process PID is stopped (state T in /proc)."
  (let ((tasks (directory-files (format "/proc/%d/task" pid) t "\\`[0-9]+\\'")))
    (and tasks
         (cl-every (lambda (task)
                     (with-temp-buffer
                       (insert-file-contents (expand-file-name "stat" task))
                       (and (re-search-forward ") \\([A-Za-z]\\) " nil t)
                            (member (match-string 1) '("T" "t")))))
                   tasks))))

(ert-deftest otrace-test-stopped-process-does-not-freeze-emacs ()
  "A process that does not answer costs at most `otrace-sync-request-timeout';
the error says which request and which process."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (let ((proc (otrace-test--app-proc app))
          (start (float-time)))
      (signal-process proc 'SIGSTOP)
      (unwind-protect
          ;; kill(2) returns before every thread has stopped, and the control thread answers
          ;; `otrace/holds' itself within microseconds: ask only once the whole process is stopped
          (let ((err (let ((otrace-sync-request-timeout 1))
                       (otrace-test--wait (lambda () (otrace-test--stopped-p (process-id proc)))
                                          "every thread of the process to stop" 1)
                       (should-error (otrace--request 'otrace/holds) :type 'user-error))))
            (should (string-match-p (format "otrace/holds: no answer from pid %d within 1 s" (process-id proc))
                                    (error-message-string err)))
            (should (< (- (float-time) start) 2.5)))
        (signal-process proc 'SIGCONT))
      (should (plist-member (otrace--request 'otrace/holds) :holds)))))
 
(ert-deftest otrace-test-console-keys-tab-repeat-quit ()
  "Keys typed in the console: TAB completes (no tab inserted), `repeat'
re-runs its command until another line is sent, `quit' closes the window."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (let ((console (otrace-console)))
      (otrace-test--wait (lambda () (otrace-test--buffer-has console "^globals> \\'")) "the prompt")
      (with-current-buffer console
        (switch-to-buffer console)
        (goto-char (point-max))
        (execute-kbd-macro (kbd "cd SPC /osh/glo TAB"))
        (should (equal (buffer-substring-no-properties (save-excursion (forward-line 0) (point)) (point-max))
                       "globals> cd /osh/globals/"))
        (execute-kbd-macro (kbd "C-a C-k"))
        (let ((otrace-console-repeat-interval 0.2))
          (execute-kbd-macro (kbd "repeat SPC pwd RET"))
          (otrace-test--wait (lambda () (>= (how-many "^/osh/globals$" (point-min) (point-max)) 3))
                             "the repeated pwd")
          (should (timerp otrace--console-repeat-timer))
          (execute-kbd-macro (kbd "ls RET"))       ; another line stops it
          (should-not otrace--console-repeat-timer)
          (let ((n (how-many "^/osh/globals$" (point-min) (point-max))))
            (otrace-test--wait (lambda () (otrace-test--buffer-has console "Request_stats")) "ls")
            (accept-process-output nil 0.6)
            (should (= n (how-many "^/osh/globals$" (point-min) (point-max))))))
        (execute-kbd-macro (kbd "quit RET"))
        (otrace-test--wait (lambda () (otrace-test--buffer-has console "console closed; the connection stays open"))
                           "the quit notice")
        (should (otrace-connected-p))))))

(ert-deftest otrace-test-edit-buffer-keys ()
  "An `edit' buffer says its keys; `C-c C-k' closes it unpatched, `C-c C-c'
patches the running function and closes it."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (otrace--request 'otrace/command '(:line "set safe_mode False"))
    (let ((console (otrace-console)))
      (otrace-test--wait (lambda () (otrace-test--buffer-has console "^globals> \\'")) "the prompt")
      (otrace-console-send-line "edit GetHandler.respond")
      (let ((edit (otrace-test--wait (lambda () (get-buffer "*otrace edit GetHandler.respond*")) "the edit buffer")))
        (with-current-buffer edit
          (should (string-match-p "C-c C-c patches the process, C-c C-k cancels"
                                  (format "%s" header-line-format)))
          (execute-kbd-macro (kbd "C-c C-k")))
        (should-not (buffer-live-p edit))
        (should (otrace-test--buffer-has "*Messages*" "edit of GetHandler.respond cancelled: nothing patched"))
        (should-not (string-match-p "respond" (plist-get (otrace--request 'otrace/command '(:line "ls /osh/patches")) :output))))
      (otrace-console-send-line "edit GetHandler.respond")
      (let ((edit (otrace-test--wait (lambda () (get-buffer "*otrace edit GetHandler.respond*")) "the edit buffer again")))
        (with-current-buffer edit
          (goto-char (point-min))
          (re-search-forward "def respond.*\n")
          (insert (make-string (current-indentation) ?\s) "return 'patched from Emacs'\n")
          (execute-kbd-macro (kbd "C-c C-c")))
        (should-not (buffer-live-p edit))
        (should (string-match-p "respond" (plist-get (otrace--request 'otrace/command '(:line "ls /osh/patches")) :output)))))))

(ert-deftest otrace-test-failed-connect-keeps-the-connection ()
  "A refused connection leaves the working one; `M-x otrace-connect RET RET'
connects to the only process, the prompt showing it as the default."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (let ((info (car (otrace-processes))))
      (execute-kbd-macro (kbd "M-x otrace-connect RET RET"))
      (should (otrace-connected-p))
      (should (equal (plist-get (otrace--info otrace--connection) :pid) (plist-get info :pid)))
      (let ((conn otrace--connection))
        (should-error (otrace-connect-to "127.0.0.1" (plist-get info :lsp_port) "wrong token")
                      :type 'user-error)
        (should (eq otrace--connection conn))
        (should (otrace-connected-p))
        (should (plist-get (otrace--request 'otrace/command '(:line "pwd")) :prompt))))))

(ert-deftest otrace-test-holds-list-ages-tick-and-terminal-marker ()
  "The holds list's ages tick by themselves; in a terminal the held line has a
margin marker (no fringe there)."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (let ((source (otrace-test--demo-buffer))
          (response (otrace-test--http-get app "/?number=77"))
          (holds (otrace-holds)))
      (otrace-test--wait-views 1 "the hold")
      (let ((age (lambda () (with-current-buffer holds
                              (goto-char (point-min))
                              (aref (tabulated-list-get-entry) 3)))))
        (let ((first (funcall age)))
          (otrace-test--wait (lambda () (not (equal (funcall age) first))) "the age to tick" 4)))
      (with-current-buffer source
        (should-not (display-graphic-p))
        (let ((ov (cl-find-if (lambda (ov) (overlay-get ov 'otrace-hold)) (overlays-in (point-min) (point-max)))))
          (should ov)
          (should (equal (car (get-text-property 0 'display (overlay-get ov 'before-string)))
                         '(margin left-margin)))
          (should (>= left-margin-width 1))))
      (otrace-resume 'all)
      (otrace-test--wait (lambda () (otrace-test--buffer-has response "The reciprocal of 77")) "the response")
      (kill-buffer response))))

(ert-deftest otrace-test-describe-never-shows-json ()
  "Command results read as words in messages, not as raw JSON."
  (should (equal (otrace--describe '(:name "GetHandler.get" :label "live_get_40" :line 40))
                 "name GetHandler.get, label live_get_40, line 40"))
  (should (equal (otrace--describe '(:resumed ["a" "b"])) "resumed a b"))
  (should (equal (otrace--describe '(:traceIds [])) "traceIds none")))

(ert-deftest otrace-test-console-runs-ls-with-history ()
  "The console shows the server's prompt, runs `ls' and keeps the line in its history."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (let ((console (otrace-console)))
      (otrace-test--wait (lambda () (otrace-test--buffer-has console "^globals> \\'")) "the prompt")
      (otrace-console-send-line "ls")
      (otrace-test--wait (lambda () (otrace-test--buffer-has console "Request_stats[^\0]*\nglobals> \\'"))
                         "the output of ls and a new prompt")
      (with-current-buffer console
        (should (equal (ring-ref comint-input-ring 0) "ls"))))))

(ert-deftest otrace-test-console-completion-and-async-output ()
  "`completion-at-point' completes through the server; trace events arrive before the prompt."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (let ((console (otrace-console)))
      (otrace-test--wait (lambda () (otrace-test--buffer-has console "^globals> \\'")) "the prompt")
      (with-current-buffer console
        (goto-char (point-max))
        (insert "cd /osh/glo")
        (completion-at-point)
        (should (equal (buffer-substring-no-properties (save-excursion (forward-line 0) (point)) (point-max))
                       "globals> cd /osh/globals/"))   ; a directory completes with its /
        ;; A traced exception arrives while a line is being typed: it goes above the prompt.
        (otrace--request 'otrace/trace '(:name "GetHandler.get"))
        (let ((response (otrace-test--http-get app "/?number=0")))
          (otrace-test--wait (lambda () (otrace-test--buffer-has console "ZeroDivisionError")) "the trace event")
          (kill-buffer response))
        (should (otrace-test--buffer-has console "ZeroDivisionError.*\nglobals> cd /osh/globals/\\'"))))))

;; Nothing raw on a screen: what the server sends is escaped again by the
;; console (the last line of defence), so comint's ansi-color never colours
;; it and a bidi override never reorders it.
(ert-deftest otrace-test-visible-escapes-what-the-server-escapes ()
  "`otrace--visible' applies the server's rule: controls and bidi characters become escapes."
  (should (equal (otrace--visible (concat "a" (string 27) "[2J" (string 27) "]0;t" (string 7)
                                          (string #x9b) "x" (string #x202e) "y\r\nz\t"
                                          (string #xe0041) (string #x7f)))
                 "a\\x1b[2J\\x1b]0;t\\x07\\x9bx\\u202ey\\r\nz\t\\U000e0041\\x7f"))
  (should (equal (otrace--visible "x\ny\tz" t) "x\\ny\\tz"))
  (let ((plain (concat "plain é ✓ 漢字 " (string #x1f468 #x200d #x1f469))))
    (should (equal (otrace--visible plain) plain))))

(ert-deftest otrace-test-console-shows-escapes-as-text ()
  "Escapes in the server's output, prompt and notifications are shown as text, not obeyed."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (let ((console (otrace-console))
          (raw (concat (string 27) "[31mred" (string 27) "[0m " (string 27) "]0;owned" (string 7)
                       " abc" (string #x202e) "def")))
      (otrace-test--wait (lambda () (otrace-test--buffer-has console "^globals> \\'")) "the prompt")
      ;; an application object whose repr is terminal escapes, through otrace/command
      (otrace--request 'otrace/command '(:line "set safe_mode False"))
      (otrace-console-send-line "pr type('Hostile', (), {'__repr__': lambda self: '\\x1b[31mred\\u202e'})()")
      (otrace-test--wait (lambda () (otrace-test--buffer-has console "^\\\\x1b\\[31mred\\\\u202e\nglobals> \\'"))
                         "the escaped repr")
      ;; raw text in a notification (the console's own defence) and in an answer with a prompt
      (with-current-buffer console
        (otrace--console-notification 'otrace/output (list :text raw))
        (otrace--console-answer (list :output raw :prompt (concat "web.." (string 27) "[2Jx> ")))
        (let ((text (buffer-string)))
          (should (string-match-p (regexp-quote "\\x1b[31mred\\x1b[0m \\x1b]0;owned\\x07 abc\\u202edef\n") text))
          (should (string-suffix-p "web..\\x1b[2Jx> " text))
          ;; (raw, comint's ansi-color would have swallowed the SGR sequences: "red" alone)
          (should-not (string-match-p (regexp-opt (list (string 27) (string 7) (string #x202e))) text)))))))

;; A line the server cannot run (not connected) says why and gives a prompt
;; again; a new connection starts a new shell session in the same buffer.
(ert-deftest otrace-test-console-survives-disconnect-and-reconnect ()
  "Lines typed while disconnected get an error and a prompt; a reconnect gives a fresh prompt."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (let ((console (otrace-console))
          (pid (process-id (otrace-test--app-proc app))))
      (otrace-test--wait (lambda () (otrace-test--buffer-has console "^globals> \\'")) "the prompt")
      (otrace-console-send-line "cd /osh/recent")
      (otrace-test--wait (lambda () (otrace-test--buffer-has console "^recent> \\'")) "the recent> prompt")
      (otrace-disconnect)
      (should (otrace-test--buffer-has console "^\\[otrace: disconnected; M-x otrace-connect or otrace-reconnect\\]\nrecent> \\'"))
      (with-current-buffer console         ; typed in the console buffer: RET
        (goto-char (point-max))
        (insert "ls")
        (comint-send-input))
      (should (otrace-test--buffer-has console "^recent> ls\nerror: Not connected (M-x otrace-connect)\nrecent> \\'"))
      (otrace-reconnect)
      (should (otrace-test--buffer-has
               console (format "^recent> \n\\[otrace: connected to pid %d, shell in /osh/globals\\]\nglobals> \\'" pid)))
      (otrace-console-send-line "pwd")
      (otrace-test--wait (lambda () (otrace-test--buffer-has console "^globals> pwd\n/osh/globals\nglobals> \\'"))
                         "pwd in the new session"))))

(ert-deftest otrace-test-resume-value-text-is-never-an-error ()
  "A typed resume value is JSON when it parses, else the text itself (empty too)."
  (should (equal (otrace--parse-value "5") 5))
  (should (equal (otrace--parse-value "[1, \"a\"]") [1 "a"]))
  (should (eq (otrace--parse-value "null") :null))
  (should (equal (otrace--parse-value "5 6") "5 6"))
  (should (equal (otrace--parse-value "") ""))
  (should (equal (otrace--parse-value "  ") "  ")))

;;;; Python buffers

(ert-deftest otrace-test-flymake-reports-traced-exception ()
  "The flymake backend shows a traced exception at its raising line."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (let ((source (otrace-test--demo-buffer))
          (raising (otrace-test--demo-line "1\\.0 / value")))
      (with-current-buffer source
        (should otrace-source-mode)
        (flymake-mode 1))
      (otrace--request 'otrace/trace '(:name "GetHandler.get"))
      (kill-buffer (otrace-test--http-get app "/?number=0"))
      (let ((diag (otrace-test--wait
                   (lambda () (otrace-test--flymake-note source "ZeroDivisionError"))
                   "the flymake diagnostic")))
        (with-current-buffer source
          (should (= (line-number-at-pos (flymake-diagnostic-beg diag)) raising))
          (should (eq (flymake-diagnostic-type diag) :note)))
        ;; the notes were that process's: a disconnect (or a switch) takes them away
        (otrace-disconnect)
        (otrace-test--wait (lambda () (not (otrace-test--flymake-note source "ZeroDivisionError")))
                           "the notes to go")
        (with-current-buffer source (flymake-mode -1))))))

(ert-deftest otrace-test-flymake-reports-exceptions-of-edited-code-in-the-file ()
  "An exception raised in code patched with `edit' is a flymake note in the
file, at the line the edited one stands for (it was reported at <otrace-patch>)."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (otrace--request 'otrace/command '(:line "set safe_mode False"))
    (let ((source (otrace-test--demo-buffer))
          (def-line (otrace-test--demo-line "def respond(self, number):"))
          (console (otrace-console)))
      (with-current-buffer source (flymake-mode 1))
      (otrace-test--wait (lambda () (otrace-test--buffer-has console "^globals> \\'")) "the prompt")
      (otrace-console-send-line "edit GetHandler.respond")
      (let ((edit (otrace-test--wait (lambda () (get-buffer "*otrace edit GetHandler.respond*")) "the edit buffer")))
        (with-current-buffer edit
          (goto-char (point-min))
          (re-search-forward "def respond.*\n")
          (insert (make-string (current-indentation) ?\s) "raise ValueError('from an Emacs edit')\n")
          (execute-kbd-macro (kbd "C-c C-c"))))
      (otrace--request 'otrace/trace '(:name "GetHandler.respond"))
      (kill-buffer (otrace-test--http-get app "/?number=5"))
      (let ((diag (otrace-test--wait
                   (lambda () (otrace-test--flymake-note source "from an Emacs edit"))
                   "the note of the edited code's exception")))
        (with-current-buffer source
          (should (= (line-number-at-pos (flymake-diagnostic-beg diag)) def-line))   ; the added line follows it
          (flymake-mode -1)))
      (otrace--request 'otrace/unpatch '(:name "all"))
      (otrace--request 'otrace/command '(:line "set safe_mode True")))))

(ert-deftest otrace-test-code-actions ()
  "`otrace-insert-traceassert' inserts a hold in an async def; a server command runs."
  (otrace-test--with-app (app "demos/torna_trace.py")
    (otrace-test--connect app)
    (with-current-buffer (otrace-test--demo-buffer)
      (goto-char (point-min))
      (forward-line (1- (otrace-test--demo-line "Request_stats\\[\"count\"\\] \\+= 1")))
      (let ((line (line-number-at-pos)))
        (otrace-insert-traceassert)
        (goto-char (point-min))
        (forward-line (1- line))
        (should (looking-at-p (format "        await traceassert(True, label=\"get_%d\", action=\"hold\")$" line))))
      (revert-buffer t t)
      (goto-char (point-min))
      (re-search-forward "def respond")
      (should (equal (otrace-code-action "Trace this function (GetHandler.respond)")
                     '(:name "GetHandler.respond" :module "__main__")))
      (should (string-match-p "GetHandler.respond"
                              (plist-get (otrace--request 'otrace/command '(:line "trace")) :output)))
      (should-error (otrace-code-action "no such action") :type 'user-error)
      (let ((err (should-error (otrace-code-action "Hold here live") :type 'user-error)))
        (should (string-match-p "Hold here live: .*not an async def" (error-message-string err)))))))

;;;; Browsers

(ert-deftest otrace-test-web-eval-round-trip ()
  "JavaScript evaluated in the chat demo's headless browser: value, error and monitor."
  (skip-unless (file-executable-p "/usr/bin/chromium"))
  (otrace-test--with-app (app "demos/chat_websock.py")
    (let* ((browser (make-process
                     :name "otrace-test-browser" :buffer (generate-new-buffer " *otrace-test browser*")
                     :connection-type 'pipe :noquery t
                     :command (list (otrace-test--python)
                                    (expand-file-name "emacs/test/chat_browser.py" otrace-test--root)
                                    (format "http://127.0.0.1:%d" (otrace-test--app-http app)) "emacsuser"))))
      (unwind-protect
          (progn
            (otrace-test--wait (lambda () (otrace-test--buffer-has (process-buffer browser) "^READY"))
                               "the headless browser" 60)
            (otrace-test--connect app)
            (let ((web (otrace-web)))
              (otrace-test--wait (lambda () (with-current-buffer web (assoc "emacsuser" tabulated-list-entries)))
                                 "the browser in the list"))
            (let ((err (should-error (otrace-web-eval "emacsuser" "1") :type 'user-error)))
              (should (string-match-p "\\`otrace: .*safe_mode" (error-message-string err))))
            (should (plist-get (otrace--request 'otrace/command '(:line "set safe_mode False")) :prompt))
            (should (equal (otrace-web-eval "emacsuser" "6*7") '(:value "42")))
            (should (string-match-p "\\`TypeError"
                                    (plist-get (otrace-web-eval "emacsuser" "null.foo") :error)))
            ;; typed: Emacs does not wait for a slow evaluation, the result comes when it is done
            (let ((start (float-time)))
              (with-temp-buffer
                (execute-kbd-macro
                 (concat "\M-xotrace-web-eval\r\r"   ; RET takes the default: the only browser
                         "(function(){var t=Date.now();while(Date.now()-t<1500);return'slow'+'done'})()\r")))
              (should (< (- (float-time) start) 1.0))
              (otrace-test--wait (lambda () (otrace-test--buffer-has "*Messages*" "emacsuser: \"slowdone\""))
                                 "the slow result"))
            (let ((otrace-web-monitor-interval 0.2))
              (otrace-web-eval "emacsuser" "window.__n = 0")
              (let ((monitor (otrace-web-monitor "emacsuser" "++window.__n")))
                (otrace-test--wait (lambda () (otrace-test--buffer-has monitor "^3$")) "the monitor to re-evaluate")
                (kill-buffer monitor))))
        (process-send-eof browser)
        (otrace-test--wait (lambda () (not (process-live-p browser))) "the browser to close" 20)
        (kill-buffer (process-buffer browser))))))

(provide 'otrace-test)

;;; otrace-test.el ends here
