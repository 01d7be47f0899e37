;;; otrace-source.el --- Python buffers: code actions and flymake -*- lexical-binding: t -*-

;; Copyright (C) 2025 otrace-server authors

;; This file is not part of GNU Emacs.  It is part of the otrace package
;; and is distributed under the same license (GPL-3.0-or-later): see
;; otrace.el.

;;; Commentary:

;; `otrace-source-mode', turned on in Python buffers while connected:
;; - the server's code actions (`otrace-code-action'), among them
;;   `otrace-insert-traceassert'; the buffer text is sent to the server
;;   (LSP full sync) before each request;
;; - a flymake backend (`otrace-flymake') reporting the traced
;;   exceptions the server publishes (`textDocument/publishDiagnostics')
;;   at their lines;
;; - attached to a fleet (every worker of an application), all this is
;;   shown once: code actions from the first worker, their commands sent
;;   as fleet orders (every worker applies them), the traced exceptions
;;   of every worker merged (one note for the same exception at the
;;   same line, whichever workers raised it);
;; - keys to resume the requests held on a line (`otrace-holds.el' draws
;;   the markers).

;;; Code:

(require 'flymake)
(require 'seq)
(require 'url-util)
(require 'otrace)
(require 'otrace-holds)

(declare-function otrace-console "otrace-console" ())
(declare-function otrace-web "otrace-web" ())

(defvar otrace--diagnostics (make-hash-table :test #'equal)
  "Diagnostics published by the server: true file name -> alist.
The alist maps each worker's pid (nil: not known) to its vector.")

(defvar otrace-command-map
  (let ((map (make-sparse-keymap)))
    (define-key map "r" #'otrace-resume-at-point)
    (define-key map "a" #'otrace-code-action)
    (define-key map "t" #'otrace-insert-traceassert)
    (define-key map "u" #'otrace-remove-live-hold)
    (define-key map "h" #'otrace-holds)
    (define-key map "c" #'otrace-console)
    (define-key map "w" #'otrace-web)
    (define-key map "d" #'otrace-dap-attach)
    map)
  "The otrace commands of Python buffers, under `otrace-keymap-prefix'.")

(defcustom otrace-keymap-prefix "C-c ~"
  "Prefix key of `otrace-command-map' in `otrace-source-mode'.
The default follows the Emacs convention for minor modes: `C-c'
followed by a punctuation character (`C-c C-LETTER' and `C-c ;' are
the major mode's).  Changing it takes effect for buffers turned on later."
  :type 'key-sequence
  :group 'otrace
  :set (lambda (symbol value)
         (when (and (boundp symbol) (boundp 'otrace-source-mode-map))
           (define-key otrace-source-mode-map (kbd (symbol-value symbol)) nil))
         (set-default symbol value)
         (when (boundp 'otrace-source-mode-map)
           (define-key otrace-source-mode-map (kbd value) otrace-command-map))))

(defvar otrace-source-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd otrace-keymap-prefix) otrace-command-map)
    (define-key map [left-fringe mouse-1] #'otrace-resume-at-mouse)
    (define-key map [left-margin mouse-1] #'otrace-resume-at-mouse)
    map)
  "Keymap of `otrace-source-mode'.
It has `otrace-command-map' under `otrace-keymap-prefix'.")

(easy-menu-define otrace-source-menu otrace-source-mode-map
  "Menu of otrace in Python buffers."
  '("otrace"
    ["Resume Held Request Here" otrace-resume-at-point :active (otrace-hold-ids-at (point))]
    ["Code Actions..." otrace-code-action :active (otrace-connected-p)]
    ["Insert traceassert" otrace-insert-traceassert :active (otrace-connected-p)]
    ["Remove Live Hold..." otrace-remove-live-hold :active otrace--patches]
    "---"
    ["Held Requests" otrace-holds :active (otrace-connected-p)]
    ["Console" otrace-console :active (otrace-connected-p)]
    ["Browsers" otrace-web :active (otrace-connected-p)]
    ["Attach Debugger (dap-mode)" otrace-dap-attach]
    "---"
    ["Connect..." otrace-connect]
    ["Attach to Fleet..." otrace-connect-fleet]
    ["Attach to Remote Process..." otrace-attach-remote]
    ["Reconnect" otrace-reconnect]
    ["Disconnect" otrace-disconnect :active (otrace-connected-p)]))

(define-minor-mode otrace-source-mode
  "Minor mode of Python buffers of an otrace process.
Shows held requests and traced exceptions, offers the server's code
actions.
\\{otrace-source-mode-map}"
  :lighter nil
  :group 'otrace
  (if otrace-source-mode
      (progn
        (add-hook 'flymake-diagnostic-functions #'otrace-flymake nil t)
        (otrace--mark-holds))
    (remove-hook 'flymake-diagnostic-functions #'otrace-flymake t)
    (otrace--clear-markers)))

(defun otrace--source-buffers-on ()
  "Turn on `otrace-source-mode' in Python buffers, now and when opened."
  (add-hook 'python-mode-hook #'otrace-source-mode)
  (dolist (buf (buffer-list))
    (with-current-buffer buf
      (when (derived-mode-p 'python-mode) (otrace-source-mode 1)))))

(defun otrace--source-buffers-off ()
  "Stop turning on `otrace-source-mode' in new Python buffers; forget the notes.
The traced exceptions shown were the process's: flymake runs again in
each buffer so that none stays after a disconnect or a switch."
  (remove-hook 'python-mode-hook #'otrace-source-mode)
  (clrhash otrace--diagnostics)
  (otrace--flymake-again))

(defun otrace--flymake-again ()
  "Run flymake again in the buffers of `otrace-source-mode'.
After a disconnect, or a worker of the attached fleet left: the notes
shown are those of the processes still there."
  (dolist (buf (buffer-list))
    (with-current-buffer buf
      (when (and otrace-source-mode (bound-and-true-p flymake-mode))
        (flymake-start)))))

(add-hook 'otrace-connected-hook #'otrace--source-buffers-on)
(add-hook 'otrace-disconnected-hook #'otrace--source-buffers-off)
(add-hook 'otrace-workers-changed-hook #'otrace--flymake-again)

;;;; Document synchronization (LSP full sync)

(defvar-local otrace--document nil
  "(CONNECTION VERSION TICK) of this buffer as last sent to the server.")

(defun otrace--uri (&optional file)
  "The file: URI of FILE (default: the current buffer's file)."
  (let ((file (or file buffer-file-name (otrace--error "This buffer visits no file"))))
    (concat "file://" (url-hexify-string (file-truename file) url-path-allowed-chars))))

(defun otrace--uri-file (uri)
  "The file name of file: URI."
  (url-unhex-string (string-remove-prefix "file://" uri)))

(defun otrace--sync-document ()
  "Send the current buffer's text to the server when it changed; its URI."
  (let ((conn (otrace--connection))
        (uri (otrace--uri))
        (text (save-restriction (widen) (buffer-substring-no-properties (point-min) (point-max)))))
    (pcase otrace--document
      (`(,(pred (eq conn)) ,version ,tick)
       (unless (= tick (buffer-chars-modified-tick))
         (jsonrpc-notify conn 'textDocument/didChange
                         (list :textDocument (list :uri uri :version (1+ version))
                               :contentChanges (vector (list :text text))))
         (setq otrace--document (list conn (1+ version) (buffer-chars-modified-tick)))))
      (_
       (jsonrpc-notify conn 'textDocument/didOpen
                       (list :textDocument (list :uri uri :languageId "python" :version 1 :text text)))
       (setq otrace--document (list conn 1 (buffer-chars-modified-tick)))))
    uri))

;;;; Code actions

(defun otrace--code-actions ()
  "The server's code actions at the current line."
  (let* ((uri (otrace--sync-document))
         (line (1- (line-number-at-pos)))
         (pos (list :line line :character 0)))
    (append (otrace--request 'textDocument/codeAction
                             (list :textDocument (list :uri uri)
                                   :range (list :start pos :end pos)
                                   :context (list :diagnostics [])))
            nil)))

(defun otrace--position (pos)
  "The buffer position of LSP position POS (a plist)."
  (save-excursion
    (goto-char (point-min))
    (forward-line (plist-get pos :line))
    (min (+ (point) (plist-get pos :character)) (line-end-position))))

(defun otrace--apply-edit (edit)
  "Apply the text edits of WorkspaceEdit EDIT to the buffers of their files."
  (let ((changes (plist-get edit :changes)))
    (cl-loop for (uri-key edits) on changes by #'cddr
             for file = (otrace--uri-file (substring (symbol-name uri-key) 1))
             do (with-current-buffer (find-file-noselect file)
                  (save-excursion
                    ;; Last edit first, so earlier positions stay valid.
                    (dolist (e (sort (append edits nil)
                                     (lambda (a b)
                                       (let ((pa (plist-get (plist-get a :range) :start))
                                             (pb (plist-get (plist-get b :range) :start)))
                                         (or (> (plist-get pa :line) (plist-get pb :line))
                                             (and (= (plist-get pa :line) (plist-get pb :line))
                                                  (> (plist-get pa :character) (plist-get pb :character))))))))
                      (let* ((range (plist-get e :range))
                             (beg (otrace--position (plist-get range :start)))
                             (end (otrace--position (plist-get range :end))))
                        (goto-char beg)
                        (delete-region beg end)
                        (insert (plist-get e :newText)))))))))

(defun otrace--run-action (action)
  "Carry out code ACTION: apply its edit, run its command; the command's result."
  (let ((disabled (plist-get action :disabled))
        (command (plist-get action :command)))
    (when disabled
      (otrace--error "%s: %s" (plist-get action :title) (plist-get disabled :reason)))
    (when (plist-get action :edit)
      (otrace--apply-edit (plist-get action :edit)))
    (when command
      (let ((result (otrace--execute-command (plist-get command :command) (plist-get command :arguments))))
        (otrace--message "%s: %s" (plist-get action :title) (otrace--describe result))
        result))))

(defconst otrace--fleet-commands '("otrace.holdHere" "otrace.traceFunction" "otrace.unpatch" "otrace.untrace")
  "The commands that take a fleet order as one more, last, argument.")

(defun otrace--execute-command (command arguments)
  "Run COMMAND with ARGUMENTS (a vector) in the server; its result.
In a fleet the commands of `otrace--fleet-commands' are fleet orders:
the order is their last argument."
  (let ((order (and (member command otrace--fleet-commands) (otrace-fleet-order))))
    (otrace--request 'workspace/executeCommand
                     (list :command command :arguments (if order (vconcat arguments (list order)) arguments)))))

(defun otrace--describe (value)
  "VALUE, a command's result, as short text for a message.
A string is itself; a plist is \"key value, key value\" (lists joined
with spaces); never raw JSON."
  (cond ((stringp value) value)
        ((and (consp value) (keywordp (car value)))
         (mapconcat (lambda (pair)
                      (let ((v (cadr pair)))
                        (format "%s %s" (substring (symbol-name (car pair)) 1)
                                (cond ((vectorp v) (if (zerop (length v)) "none"
                                                     (mapconcat #'otrace--describe v " ")))
                                      ((null v) "none")
                                      (t (otrace--describe v))))))
                    (seq-partition value 2) ", "))
        ((null value) "done")
        (t (format "%s" value))))

(defun otrace-code-action (title)
  "Run the otrace code action named TITLE at the current line.
Interactively, choose among the server's actions (disabled ones
show why)."
  (interactive
   (let ((titles (mapcar (lambda (a)
                           (let ((reason (plist-get (plist-get a :disabled) :reason)))
                             (if reason (format "%s (disabled: %s)" (plist-get a :title) reason)
                               (plist-get a :title))))
                         (otrace--code-actions))))
     (list (replace-regexp-in-string " (disabled: .*\\'" ""
                                     (completing-read "otrace action: " titles nil t)))))
  (let ((action (or (cl-find title (otrace--code-actions)
                             :key (lambda (a) (plist-get a :title)) :test #'string=)
                    (otrace--error "No action %S on this line" title))))
    (otrace--run-action action)))

(defun otrace-insert-traceassert ()
  "Insert a `traceassert' (a hold in an async def) before the current line."
  (interactive)
  (let ((action (or (cl-find-if (lambda (a) (string-prefix-p "Insert traceassert" (plist-get a :title)))
                                (otrace--code-actions))
                    (otrace--error "The server offers no traceassert here"))))
    (otrace--run-action action)))

;;;; Flymake: traced exceptions

(defun otrace--file-diagnostics (file)
  "The diagnostics of true file name FILE: every live worker's, each once.
The same message at the same line from several workers (a file loaded
by every worker of a fleet) is one diagnostic."
  (let ((live (cons nil (mapcar #'otrace--pid (otrace-workers))))
        (seen (make-hash-table :test #'equal))
        (merged nil))
    (pcase-dolist (`(,worker . ,diags) (gethash file otrace--diagnostics))
      (when (memql worker live)
        (cl-loop for d across diags
                 for key = (cons (plist-get (plist-get (plist-get d :range) :start) :line) (plist-get d :message))
                 unless (gethash key seen)
                 do (puthash key t seen) (push d merged))))
    (nreverse merged)))

(defun otrace-flymake (report-fn &rest _args)
  "Flymake backend: call REPORT-FN with the traced exceptions of this buffer."
  (let ((diags (and buffer-file-name (otrace--file-diagnostics (file-truename buffer-file-name)))))
    (funcall report-fn
             (cl-loop for d in diags
                      for line = (plist-get (plist-get (plist-get d :range) :start) :line)
                      for region = (flymake-diag-region (current-buffer) (1+ line))
                      when region
                      collect (flymake-make-diagnostic (current-buffer) (car region) (cdr region)
                                                       :note (plist-get d :message))))))

(defun otrace--source-notification (method params)
  "Store the diagnostics of notification METHOD with PARAMS; re-run flymake.
They are kept per worker (`otrace-notification-worker')."
  (when (eq method 'textDocument/publishDiagnostics)
    (let* ((file (file-truename (otrace--uri-file (plist-get params :uri))))
           (others (assq-delete-all otrace-notification-worker (copy-sequence (gethash file otrace--diagnostics)))))
      (puthash file (cons (cons otrace-notification-worker (plist-get params :diagnostics)) others)
               otrace--diagnostics)
      (dolist (buf (buffer-list))
        (with-current-buffer buf
          (when (and otrace-source-mode (bound-and-true-p flymake-mode)
                     buffer-file-name (string= (file-truename buffer-file-name) file))
            (flymake-start)))))))

(add-hook 'otrace-notification-functions #'otrace--source-notification)

(provide 'otrace-source)

;;; otrace-source.el ends here
