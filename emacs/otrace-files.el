;;; otrace-files.el --- Live objects as buffers, patches as diffs, tests from contexts -*- lexical-binding: t -*-

;; Copyright (C) 2025 otrace-server authors

;; This file is not part of GNU Emacs.  It is part of the otrace package
;; and is distributed under the same license (GPL-3.0-or-later): see
;; otrace.el.

;;; Commentary:

;; The /osh tree of the connected process as buffers (the protocol's
;; `otrace/fs/*' requests, docs/PROTOCOL.md):
;; - `otrace-find-object' reads an /osh path with completion (each
;;   directory listed by the process) and opens it: a function's live
;;   source in a Python buffer whose save (\\[save-buffer]) patches the
;;   running function (a source that does not compile is marked at its
;;   line and nothing is patched); any other object as read-only text;
;; - `otrace-patches' lists the live patches; `otrace-patch-diff' shows
;;   one against its source file (`diff-mode'), `otrace-promote-patch'
;;   writes it into the file's buffer as one undoable change (the user
;;   saves), `otrace-discard-patch' unpatches it;
;; - `otrace-testgen' turns a recorded trace context into a pytest test.
;; otrace never writes a file itself: the buffers are the user's.

;;; Code:

(require 'cl-lib)
(require 'diff-mode)
(require 'seq)
(require 'subr-x)
(require 'python)
(require 'tabulated-list)
(require 'otrace)
(require 'otrace-source)

;;;; Reading /osh paths

(defun otrace--fs (method path)
  "The result of `otrace/fs/' request METHOD (a string) for /osh PATH."
  (otrace--request (intern (concat "otrace/fs/" method)) (list :path path)))

(defun otrace--object-entries (directory)
  "The completions below /osh DIRECTORY (ending in /).
Each is a path; a directory's ends with a slash."
  (if (equal directory "/")
      (list "/osh/")
    (condition-case nil
        (mapcar (lambda (entry)
                  (concat directory (plist-get entry :name)
                          (if (equal (plist-get entry :type) "directory") "/" "")))
                (plist-get (otrace--fs "readDirectory" (directory-file-name directory)) :entries))
      (user-error nil))))

(defun otrace--object-table ()
  "A completion table of /osh paths that lists each directory once per read."
  (let ((listed (make-hash-table :test #'equal)))
    (lambda (string pred action)
      (let* ((directory (substring string 0 (1+ (or (cl-position ?/ string :from-end t) -1))))
             (directory (if (equal directory "") "/" directory))
             (entries (or (gethash directory listed)
                          (puthash directory (otrace--object-entries directory) listed))))
        (if (eq (car-safe action) 'boundaries)
            (cons 'boundaries (cons (length directory) (length (cdr action))))
          (complete-with-action action entries string pred))))))

(defun otrace-read-object-path (prompt &optional initial)
  "Read an /osh path with completion: PROMPT first, INITIAL typed.
INITIAL defaults to /osh/globals/.  A directory read is entered: the
reading goes on below it."
  (otrace--connection)
  (let ((path (completing-read prompt (otrace--object-table) nil nil (or initial "/osh/globals/"))))
    (setq path (string-remove-suffix "/" path))
    (if (equal (plist-get (otrace--fs "stat" path) :type) "directory")
        (otrace-read-object-path prompt (concat path "/"))
      path)))

;;;; Object buffers

(defvar-local otrace--object-path nil
  "The /osh path this buffer shows.")

(defvar-local otrace--object-name nil
  "The dotted name of the function this buffer shows, when saving patches it.")

(defface otrace-source-error
  '((t :inherit error :underline t))
  "Face of a line the process could not compile."
  :group 'otrace)

(defvar otrace-object-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map [remap save-buffer] #'otrace-object-save)
    (define-key map (kbd "C-c C-r") #'otrace-object-revert)
    (define-key map (kbd "C-c C-d") #'otrace-object-diff)
    map)
  "Keymap of `otrace-object-mode'.")

(define-minor-mode otrace-object-mode
  "Minor mode of a buffer showing an object of the otrace process.
In a function's buffer \\[otrace-object-save] patches the running
function with the buffer's text; \\[otrace-object-revert] reads the
live object again; \\[otrace-object-diff] compares a patched function
with its source file."
  :lighter " otrace-object"
  :group 'otrace)

(defun otrace--object-buffer-name (path)
  "The name of the buffer showing /osh PATH."
  (format "*otrace %s*" path))

(defun otrace--fill-object-buffer (file)
  "Show FILE, an `otrace/fs/readFile' result, in the current buffer."
  (let ((inhibit-read-only t)
        (line (line-number-at-pos)))
    (remove-overlays (point-min) (point-max) 'otrace-diagnostic t)
    (erase-buffer)
    (insert (plist-get file :text))
    (goto-char (point-min))
    (forward-line (1- line))
    (setq otrace--object-name (plist-get file :name))
    (setq buffer-read-only (eq (plist-get file :readonly) t))
    (set-buffer-modified-p nil)))

;;;###autoload
(defun otrace-find-object (path)
  "Open the object at /osh PATH of the connected process.
A function is its live source in a Python buffer: saving it
\(\\[save-buffer]) patches the running function.  Anything else is
read-only text.  Interactively, PATH is read with completion."
  (interactive (list (otrace-read-object-path "otrace object: ")))
  (let ((file (otrace--fs "readFile" path))
        (buf (get-buffer-create (otrace--object-buffer-name path))))
    (with-current-buffer buf
      (if (equal (plist-get file :language) "python")
          (unless (derived-mode-p 'python-mode)
            (delay-mode-hooks (python-mode)))    ; no file: not one of otrace-source-mode's buffers
        (fundamental-mode))
      (otrace--fill-object-buffer file)
      (setq otrace--object-path path)
      (otrace-object-mode 1))
    (pop-to-buffer-same-window buf)
    buf))

(defun otrace--object-path ()
  "The /osh path of the current buffer, or signal a `user-error'."
  (or otrace--object-path (otrace--error "This buffer shows no object of the process")))

(defun otrace-object-revert ()
  "Show the live object of this buffer again, dropping unsaved edits."
  (interactive)
  (otrace--fill-object-buffer (otrace--fs "readFile" (otrace--object-path))))

(defun otrace--show-diagnostics (diagnostics)
  "Mark each of DIAGNOSTICS (plists: line, column, message) in the buffer."
  (remove-overlays (point-min) (point-max) 'otrace-diagnostic t)
  (seq-doseq (d diagnostics)
    (save-excursion
      (goto-char (point-min))
      (forward-line (1- (plist-get d :line)))
      (let ((ov (make-overlay (line-beginning-position) (line-end-position))))
        (overlay-put ov 'otrace-diagnostic t)
        (overlay-put ov 'face 'otrace-source-error)
        (overlay-put ov 'help-echo (plist-get d :message)))))
  (when (> (length diagnostics) 0)
    (let ((first (elt diagnostics 0)))
      (goto-char (point-min))
      (forward-line (1- (plist-get first :line)))
      (move-to-column (max 0 (1- (plist-get first :column)))))))

(defun otrace-object-save ()
  "Patch the running function with this buffer's text (`otrace/fs/writeFile').
A text that does not compile is marked at its line, and nothing is
patched; so is any refusal (safe mode)."
  (interactive)
  (let ((path (otrace--object-path))
        (conn (otrace--connection)))
    (unless otrace--object-name
      (otrace--error "%s is read-only: only a function under /osh/globals can be patched" path))
    (condition-case err
        (jsonrpc-request conn 'otrace/fs/writeFile
                         (list :path path :text (save-restriction
                                                  (widen)
                                                  (buffer-substring-no-properties (point-min) (point-max))))
                         :timeout otrace-sync-request-timeout)
      (jsonrpc-error
       (let ((data (alist-get 'jsonrpc-error-data (cdr err))))
         (otrace--show-diagnostics (plist-get data :diagnostics))
         (otrace--error "%s (nothing patched)" (alist-get 'jsonrpc-error-message (cdr err))))))
    (remove-overlays (point-min) (point-max) 'otrace-diagnostic t)
    (set-buffer-modified-p nil)
    (otrace--message "patched %s in pid %s (M-x otrace-discard-patch undoes it)" otrace--object-name
                     (plist-get (otrace--info conn) :pid))))

(defun otrace-object-diff ()
  "Compare the patched function of this buffer with its source file."
  (interactive)
  (otrace-patch-diff (or otrace--object-name (otrace--error "Not a patchable function's buffer"))))

;;;; Patches

(defun otrace--read-patch (prompt)
  "Read the name of a live patch with PROMPT.
The default is the patch of this buffer, else the newest."
  (let ((names (mapcar (lambda (p) (plist-get p :name)) otrace--patches)))
    (unless names (otrace--error "Nothing is patched in pid %s" (plist-get (otrace--info (otrace--connection)) :pid)))
    (let ((default (or (and (member otrace--object-name names) otrace--object-name)
                       (tabulated-list-get-id) (car (last names)))))
      (completing-read (format "%s (default %s): " prompt default) names nil t nil nil default))))

;;;###autoload
(defun otrace-patch-diff (name)
  "Show the live patch NAME against its source file in `diff-mode'."
  (interactive (list (otrace--read-patch "Compare patch")))
  (let* ((diff (otrace--request 'otrace/patchDiff (list :name name)))
         (buf (get-buffer-create (format "*otrace diff %s*" name))))
    (with-current-buffer buf
      (let ((inhibit-read-only t))
        (erase-buffer)
        (insert (if (equal (plist-get diff :diff) "")
                    (format "%s: the live code and %s agree\n" name (plist-get diff :file))
                  (plist-get diff :diff))))
      (diff-mode)
      (setq default-directory (file-name-directory (plist-get diff :file)))
      (setq buffer-read-only t)
      (goto-char (point-min)))
    (display-buffer buf)
    buf))

;;;###autoload
(defun otrace-promote-patch (name)
  "Write the live patch NAME into its source file's buffer, one undoable change.
The file is not saved: save it to keep the change, undo to drop it."
  (interactive (list (otrace--read-patch "Promote patch")))
  (let* ((edit (otrace--request 'otrace/promotePatch (list :name name)))
         (file (plist-get edit :file))
         (buf (find-file-noselect file)))
    (with-current-buffer buf
      (when (buffer-modified-p)
        (otrace--error "%s has unsaved changes: save or revert it first (the process reads the file)" file))
      (save-excursion
        (save-restriction
          (widen)
          (goto-char (point-min))
          (forward-line (1- (plist-get edit :startLine)))
          (let ((beg (point)))
            (forward-line (1+ (- (plist-get edit :endLine) (plist-get edit :startLine))))
            (undo-boundary)
            (delete-region beg (point))
            (insert (plist-get edit :newText))
            (undo-boundary)))))
    (pop-to-buffer buf)
    (goto-char (point-min))
    (forward-line (1- (plist-get edit :startLine)))
    (otrace--message "%s written into %s: save it to keep it (undo drops it)" name
                     (file-name-nondirectory file))
    buf))

;;;###autoload
(defun otrace-discard-patch (name)
  "Unpatch NAME: the running function gets its loaded code back."
  (interactive (list (otrace--read-patch "Discard patch")))
  (otrace--request 'otrace/unpatch (list :name name))
  (dolist (buf (buffer-list))
    (with-current-buffer buf
      (when (and otrace-object-mode (equal otrace--object-name name) (not (buffer-modified-p)))
        (otrace-object-revert))))
  (otrace--message "discarded the patch of %s" name))

(defconst otrace--patches-buffer "*otrace patches*"
  "Name of the buffer listing the live patches.")

(defvar otrace-patches-mode-map
  (let ((map (make-sparse-keymap)))
    (pcase-dolist (`(,key . ,command) '(("RET" . otrace-patches-visit) ("=" . otrace-patches-diff)
                                        ("P" . otrace-patches-promote) ("k" . otrace-patches-discard)))
      (define-key map (kbd key) command))
    map)
  "Keymap of `otrace-patches-mode'.")

(define-derived-mode otrace-patches-mode tabulated-list-mode "otrace-patches"
  "Major mode listing the live patches of the otrace process.
\\{otrace-patches-mode-map}"
  (otrace--list-setup [("Patch" 36 t) ("Kind" 30 t) ("Since" 10 t)] #'otrace--patches-entries))

(defun otrace--patches-entries ()
  "Fill `tabulated-list-entries' with the live patches."
  (setq tabulated-list-entries
        (mapcar (lambda (patch)
                  (let ((live (plist-get patch :liveHold)))
                    (list (plist-get patch :name)
                          (vector (plist-get patch :name)
                                  (if live (format "live hold, line %s" (plist-get live :line)) "patch")
                                  (format-time-string "%H:%M:%S" (plist-get patch :since))))))
                otrace--patches)))

;;;###autoload
(defun otrace-patches ()
  "List the live patches of the connected process.
RET opens the live source, = compares it with the file, P promotes
it into the file, k discards it."
  (interactive)
  (otrace--show-list otrace--patches-buffer #'otrace-patches-mode #'otrace--patches-entries))

(defun otrace--patches-redraw ()
  "Update the buffer listing the live patches, if there is one."
  (otrace--redraw-list otrace--patches-buffer #'otrace--patches-entries))

(add-hook 'otrace-holds-changed-hook #'otrace--patches-redraw)

(defun otrace--patch-at-point ()
  "The name of the patch on this line of the patches list."
  (or (tabulated-list-get-id) (otrace--error "No patch on this line")))

(defun otrace-patches-visit ()
  "Open the live source of the patch on this line."
  (interactive)
  (otrace-find-object (concat "/osh/patches/" (otrace--patch-at-point) ".py")))

(defun otrace-patches-diff ()
  "Compare the patch on this line with its source file."
  (interactive)
  (otrace-patch-diff (otrace--patch-at-point)))

(defun otrace-patches-promote ()
  "Write the patch on this line into its source file's buffer."
  (interactive)
  (otrace-promote-patch (otrace--patch-at-point)))

(defun otrace-patches-discard ()
  "Unpatch the patch on this line."
  (interactive)
  (otrace-discard-patch (otrace--patch-at-point)))

;;;; Tests from trace contexts

(defun otrace--read-trace-id (prompt)
  "Read the id of a recorded trace context with PROMPT.
The default is the newest exception, else the newest context."
  (let* ((traces (reverse (append (plist-get (otrace--request 'otrace/traces (list :limit 200)) :traces) nil)))
         (ids (mapcar (lambda (c) (plist-get c :traceId)) traces))
         (default (plist-get (or (cl-find "exceptions" traces :key (lambda (c) (plist-get c :ctype)) :test #'equal)
                                 (car traces))
                             :traceId)))
    (unless ids (otrace--error "No trace context recorded yet"))
    (completing-read (format "%s (default %s): " prompt default) ids nil t nil nil default)))

;;;###autoload
(defun otrace-testgen (trace-id)
  "Open a pytest test replaying the call of trace context TRACE-ID.
It asserts the recorded outcome; write it where the tests go
\(\\[write-file])."
  (interactive (list (otrace--read-trace-id "Test from trace context")))
  (let* ((test (otrace--request 'otrace/testgen (list :traceId trace-id)))
         (buf (get-buffer-create (format "*otrace %s*" (plist-get test :suggestedName))))
         (cwd (plist-get otrace--last-process :cwd)))
    (with-current-buffer buf
      (let ((inhibit-read-only t))
        (erase-buffer)
        (insert (plist-get test :text)))
      (delay-mode-hooks (python-mode))
      (when (and (stringp cwd) (file-directory-p cwd))
        (setq default-directory (file-name-as-directory cwd)))
      (set-buffer-modified-p nil)
      (goto-char (point-min)))
    (pop-to-buffer-same-window buf)
    (let ((todo (plist-get test :todo)))
      (otrace--message "test of %s%s; C-x C-w writes it (suggested name %s)" trace-id
                       (if (> (length todo) 0) (format " with %d TODO" (length todo)) "")
                       (plist-get test :suggestedName)))
    buf))

(define-key otrace-command-map "f" #'otrace-find-object)
(define-key otrace-command-map "p" #'otrace-patches)
(define-key otrace-command-map "g" #'otrace-testgen)

(provide 'otrace-files)

;;; otrace-files.el ends here
